"""Tables, engine and sessions, migrations. Imports neither `bot` nor `handlers`."""
