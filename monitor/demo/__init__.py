"""`driftwise demo`: the command, the story it tells and the sample data it uses."""
