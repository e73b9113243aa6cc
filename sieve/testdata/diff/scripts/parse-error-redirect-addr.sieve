# messages: m01-plain.eml
redirect "not an address";
