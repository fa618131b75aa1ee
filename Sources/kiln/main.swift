import KilnCLI

Kiln.run()
