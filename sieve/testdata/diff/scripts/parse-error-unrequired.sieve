# messages: m01-plain.eml
fileinto "x";
