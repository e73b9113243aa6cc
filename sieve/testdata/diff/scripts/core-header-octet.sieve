if header :comparator "i;octet" :contains "subject" "hello" { redirect "lower@example.net"; }
if header :comparator "i;octet" :contains "subject" "Hello" { redirect "upper@example.net"; }
