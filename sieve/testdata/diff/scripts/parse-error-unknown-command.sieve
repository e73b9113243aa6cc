# messages: m01-plain.eml
frobnicate;
