"""Other APIs in front of the chat dispatcher: Anthropic Messages in, the same routing out."""
