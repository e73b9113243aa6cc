redirect "a@example.org";
redirect "a@example.org";
redirect "b@example.org";
