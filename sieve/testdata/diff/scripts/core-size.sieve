if size :over 10K { redirect "big@example.net"; }
if size :under 500 { redirect "small@example.net"; }
