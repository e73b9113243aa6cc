if header :is "subject" "Hello world" { discard; }
if header :is "Subject" "hello WORLD" { redirect "ci@example.net"; }
