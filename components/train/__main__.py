from webtext.components.train.run import main

raise SystemExit(main())
