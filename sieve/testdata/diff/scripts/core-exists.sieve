if exists "list-id" { redirect "list@example.net"; }
if exists ["date", "message-id"] { redirect "both@example.net"; }
if not exists "subject" { discard; }
