from eventdedup.cli import main

main()
