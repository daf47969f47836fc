"""The ASGI apps behind the four functions (chat, agent, admin, health)."""
