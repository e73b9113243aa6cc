if true {
if true {
if true {
if true {
if true {
if true {
if true {
if true {
if true {
if true {
if true {
if true {
if true {
if true {
if true {
if true {
if true {
if true {
if true {
if true {
redirect "deep@example.net";
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
}
