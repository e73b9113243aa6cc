require ["variables", "fileinto"];
set "a" "0123456789";
set "b" "${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}";
set "c" "${b}${b}${b}${b}${b}${b}${b}${b}${b}${b}";
set "d" "${c}${c}${c}${c}${c}";
set :length "len" "${d}";
fileinto "len-${len}";
