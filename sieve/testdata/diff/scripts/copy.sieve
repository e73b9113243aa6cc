require ["fileinto", "copy"];
fileinto :copy "Copies";
redirect :copy "backup@example.net";
if header :contains "subject" "Hello" { fileinto "Hello"; }
