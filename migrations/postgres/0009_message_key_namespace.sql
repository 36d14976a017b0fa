-- Message keys get their channel's namespace: 'email:<Message-ID or content key>',
-- 'whatsapp:<wamid>'; bridge keys already read '<channel>:<id>'. Before, a mail whose
-- Message-ID was 'telegram:123' took the place of the bridge message 'telegram:123'.
-- A key that would collide with one already namespaced (only possible for a bridge that
-- called its channel 'email') is left as it is.
UPDATE message SET key = 'email:' || key
 WHERE channel = 'email'
   AND NOT EXISTS (SELECT 1 FROM message m2 WHERE m2.key = 'email:' || message.key);
UPDATE message SET key = 'whatsapp:' || key
 WHERE channel = 'whatsapp' AND key NOT LIKE 'whatsapp:%'
   AND NOT EXISTS (SELECT 1 FROM message m2 WHERE m2.key = 'whatsapp:' || message.key);
-- Every reference follows its message.
UPDATE sighting SET message_key = 'email:' || message_key
 WHERE EXISTS (SELECT 1 FROM message m WHERE m.key = 'email:' || sighting.message_key AND m.channel = 'email')
   AND NOT EXISTS (SELECT 1 FROM message m WHERE m.key = sighting.message_key);
UPDATE sighting SET message_key = 'whatsapp:' || message_key
 WHERE EXISTS (SELECT 1 FROM message m WHERE m.key = 'whatsapp:' || sighting.message_key AND m.channel = 'whatsapp')
   AND NOT EXISTS (SELECT 1 FROM message m WHERE m.key = sighting.message_key);
UPDATE message_tag SET message_key = 'email:' || message_key
 WHERE EXISTS (SELECT 1 FROM message m WHERE m.key = 'email:' || message_tag.message_key AND m.channel = 'email')
   AND NOT EXISTS (SELECT 1 FROM message m WHERE m.key = message_tag.message_key);
UPDATE message_tag SET message_key = 'whatsapp:' || message_key
 WHERE EXISTS (SELECT 1 FROM message m WHERE m.key = 'whatsapp:' || message_tag.message_key AND m.channel = 'whatsapp')
   AND NOT EXISTS (SELECT 1 FROM message m WHERE m.key = message_tag.message_key);
UPDATE customer_tag SET last_message_key = 'email:' || last_message_key
 WHERE EXISTS (SELECT 1 FROM message m WHERE m.key = 'email:' || customer_tag.last_message_key AND m.channel = 'email')
   AND NOT EXISTS (SELECT 1 FROM message m WHERE m.key = customer_tag.last_message_key);
UPDATE customer_tag SET last_message_key = 'whatsapp:' || last_message_key
 WHERE EXISTS (SELECT 1 FROM message m WHERE m.key = 'whatsapp:' || customer_tag.last_message_key AND m.channel = 'whatsapp')
   AND NOT EXISTS (SELECT 1 FROM message m WHERE m.key = customer_tag.last_message_key);
UPDATE lead SET message_key = 'email:' || message_key
 WHERE EXISTS (SELECT 1 FROM message m WHERE m.key = 'email:' || lead.message_key AND m.channel = 'email')
   AND NOT EXISTS (SELECT 1 FROM message m WHERE m.key = lead.message_key);
UPDATE lead SET message_key = 'whatsapp:' || message_key
 WHERE EXISTS (SELECT 1 FROM message m WHERE m.key = 'whatsapp:' || lead.message_key AND m.channel = 'whatsapp')
   AND NOT EXISTS (SELECT 1 FROM message m WHERE m.key = lead.message_key);
UPDATE tag_feedback SET message_key = 'email:' || message_key
 WHERE EXISTS (SELECT 1 FROM message m WHERE m.key = 'email:' || tag_feedback.message_key AND m.channel = 'email')
   AND NOT EXISTS (SELECT 1 FROM message m WHERE m.key = tag_feedback.message_key);
UPDATE tag_feedback SET message_key = 'whatsapp:' || message_key
 WHERE EXISTS (SELECT 1 FROM message m WHERE m.key = 'whatsapp:' || tag_feedback.message_key AND m.channel = 'whatsapp')
   AND NOT EXISTS (SELECT 1 FROM message m WHERE m.key = tag_feedback.message_key);
