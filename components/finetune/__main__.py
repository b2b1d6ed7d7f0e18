from webtext.components.finetune.run import main

raise SystemExit(main())
