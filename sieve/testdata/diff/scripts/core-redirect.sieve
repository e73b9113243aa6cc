redirect "forward@example.org";
