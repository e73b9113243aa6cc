if false { keep; } else { stop; }
redirect "never@example.net";
