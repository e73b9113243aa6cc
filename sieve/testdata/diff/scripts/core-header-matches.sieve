if header :matches "subject" "*world" { redirect "m1@example.net"; }
if header :matches "subject" "?ello*" { redirect "m2@example.net"; }
if header :matches "subject" "\\*SPAM\\*\\**" { redirect "m3@example.net"; }
