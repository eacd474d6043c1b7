"""physground: experiments."""
