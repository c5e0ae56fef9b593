"""The suite's side of the driver protocol (``protocol/DRIVER.md``): ``process`` runs one
driver command and talks JSON lines with it, ``args`` puts the suite's arguments in their
JSON form, ``checks`` judges what the driver wrote back.  ``targets.driver`` builds the
``driver:COMMAND`` target on them."""
