"""physground: agent."""
