if header :contains ["subject","x-comment"] ["budget", "café", "digest"] { redirect "hit@example.net"; }
