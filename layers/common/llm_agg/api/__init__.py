"""The OpenAI wire format: request models and error rendering."""
