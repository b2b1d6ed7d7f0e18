from webtext.components.align.run import main

raise SystemExit(main())
