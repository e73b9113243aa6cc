if not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not false { redirect "notnot@example.net"; }
