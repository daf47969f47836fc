"""Rate limits: provider headers, quota windows in the store, cooldowns of accounts."""
