"""physground: dynamics."""
