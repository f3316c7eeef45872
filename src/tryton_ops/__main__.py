from tryton_ops.cli import main

main()
