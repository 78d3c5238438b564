package launch

// managedConfigPath is where IT staff put the managed configuration on Linux.
func managedConfigPath() (string, error) { return "/etc/invigil/config.json", nil }
