from jivocrm.cli import main

main()
