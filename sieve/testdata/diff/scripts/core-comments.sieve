/* bracket
   comment */ if /* inline */ header :contains # hash
  "subject" "Hello" { redirect "c@example.net"; } # trailing
