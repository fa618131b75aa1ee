import KilnCLI
Kiln.main()
