from bnpl.cli import main

main()
