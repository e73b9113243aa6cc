# messages: m01-plain.eml m16-boss.eml
redirect;
