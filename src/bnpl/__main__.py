from bnpl.cli import main

# guarded: a process started by spawn (a side-by-side season) imports this module again
if __name__ == "__main__":
    main()
