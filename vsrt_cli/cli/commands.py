"""Import every sub-command module so it registers itself on the ``cli`` group."""

# One line per command module; keep the list sorted.
