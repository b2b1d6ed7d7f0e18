from webtext.components.instruct.run import main

raise SystemExit(main())
