package config

// IsSet reports whether the variable (e.g. "WG_WG_MTU") was given by a flag, the environment
// or the config file rather than defaulted. A value set this way pins a setting that is
// otherwise editable in the UI.
func (c *Config) IsSet(name string) bool { return c.set[name] }
