if size :over 0 { redirect "gt0@example.net"; }
if size :under 1G { redirect "lt1g@example.net"; }
if size :over 1k { redirect "gt1k@example.net"; }
