import DHCPService

DHCPCommand.main()
