require "fileinto";
if header :contains "subject" "" { fileinto "any-subject"; }
if address :contains "from" "" { fileinto "any-from"; }
