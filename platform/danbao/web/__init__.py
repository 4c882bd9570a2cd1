"""HTTP: the JSON API, the staff pages, health; thin over the domain modules."""
