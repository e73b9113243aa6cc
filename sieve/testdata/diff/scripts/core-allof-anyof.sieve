if allof (header :contains "from" "example", not exists "list-id") { redirect "a@example.net"; }
if anyof (header :contains "subject" "nonexistent", exists "x-spam-flag", size :over 1M) { redirect "b@example.net"; }
if allof () { keep; }
