require "fileinto";
if header :contains "subject" "e" { fileinto "common-e"; }
