package launch

// managedConfigPath is where IT staff put the managed configuration on macOS.
func managedConfigPath() (string, error) {
	return "/Library/Application Support/Invigil/config.json", nil
}
