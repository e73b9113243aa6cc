if header :contains "subject" "hello" {
  discard;
} elsif header :contains "subject" "digest" {
  redirect "archive@example.net";
} elsif address :is :domain "from" "example.com" {
  keep;
} else {
  redirect "other@example.net";
}
