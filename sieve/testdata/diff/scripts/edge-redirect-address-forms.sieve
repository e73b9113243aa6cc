redirect "Some Name <named@example.org>";
redirect "plain@example.org";
