"""An evaluation split disjoint from training: new requirement wording, new responses, exact labels.

The requirement checks of ``datasets/requirement_checks/`` (train, val, test) all come from the
phrasing templates of :mod:`gencomp_alora.training.families` and from one pool of generated
responses, and most test requirements appear word for word in training. This split is written by
hand for evaluation only: every phrasing below is new (none is a family template), every response
is new (none is a generated one), and each label is computed by the family's checker. The everyday
semantic families (:mod:`.semantic`) have no checker: their checks (:data:`SEMANTIC_CHECKS`) are
written by hand whole (requirement, situation, response and label), none from the training pools.
:func:`build` makes the split (deterministic); ``DISJOINT_PATH`` holds it, and a test keeps the file
equal to :func:`build` and disjoint from training.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from gencomp_alora.training.families import FAMILIES, words

__all__ = ["PHRASINGS", "RESPONSES", "SEMANTIC_CHECKS", "build", "write"]

PHRASINGS: dict[str, tuple[str, ...]] = {
    "mentions_word": (
        "Somewhere in the reply, say {w}.",
        "Make sure {w} appears in what you write.",
        "Work the word '{w}' into your response.",
    ),
    "avoids_word": (
        "Leave out the word {w} entirely.",
        "The word '{w}' should not appear anywhere.",
        "Write it without ever saying {w}.",
    ),
    "all_capitals": (
        "Every letter should be a capital.",
        "Shout it: uppercase throughout.",
        "No lowercase letters allowed.",
    ),
    "bulleted_list": (
        "Give it to me as bullet points.",
        "Lay the reply out as a list with bullets.",
        "Each point on its own line, starting with a bullet.",
    ),
    "numbered_list": (
        "Number each item: 1, 2, 3 and so on.",
        "Present the points as an enumerated list.",
        "Give me a list where every line begins with its number.",
    ),
    "valid_json": (
        "Return a JSON object, no prose.",
        "Your whole reply must parse as JSON.",
        "Respond with machine-readable JSON only.",
    ),
    "starts_with_word": (
        "Open your reply with the word {w}.",
        "Let {w} be the very first word.",
        "Kick off the response with '{w}'.",
    ),
    "contains_number": (
        "Give at least one figure in digits.",
        "Put a numeral somewhere in the text.",
        "Quote some number, written with digits.",
    ),
    "single_sentence": (
        "Say it all in just one sentence.",
        "No more than a single sentence, please.",
        "One sentence, nothing more.",
    ),
    "shorter_than": (
        "Your reply must contain fewer than {n} words.",
        "Stay below {n} words.",
        "Be brief: less than {n} words.",
    ),
    "all_lowercase": (
        "Capital letters are not allowed.",
        "Type everything in small letters.",
    ),
    "ends_with_question": (
        "Close with a question to the reader.",
        "The last character must be a question mark.",
    ),
    "at_least_words": (
        "Write {n} words at minimum.",
        "Don't stop before {n} words.",
    ),
}
"""New phrasings per family, written for this evaluation ({w}: a word, {n}: a number)."""

RESPONSES: tuple[tuple[str, str], ...] = (
    (
        "What do bees do in winter?",
        "Bees cluster together inside the hive and shiver to keep the queen warm until spring returns.",
    ),
    ("What do bees do in winter?", "BEES STAY INSIDE THE HIVE AND SHIVER TOGETHER TO STAY WARM."),
    ("Name some uses of salt.", "- Seasoning food\n- Preserving fish and meat\n- Melting ice on roads"),
    ("Name some uses of salt.", "1. Seasoning food\n2. Preserving meat\n3. De-icing roads in winter"),
    ("Name some uses of salt.", '{"uses": ["seasoning", "preserving", "de-icing"]}'),
    (
        "Name some uses of salt.",
        "Salt seasons food and keeps meat from spoiling. Have you ever tried curing fish at home?",
    ),
    ("Name some uses of salt.", "salt is used to season food, to keep meat from spoiling and to clear icy roads."),
    ("How tall is the Eiffel Tower?", "The Eiffel Tower is about 330 metres tall and was finished in 1889."),
    (
        "Explain how a bicycle stays upright.",
        "A moving bicycle stays upright mostly because the rider steers into any lean. When the bike tips to "
        "the left, the front wheel turns left and brings the wheels back under the rider. The shape of the "
        "fork helps too: it makes the wheel steer itself a little. At walking pace this is much harder, "
        "which is why slow riding feels wobbly.",
    ),
    ("What is a lighthouse for?", "Lighthouses guide ships away from rocks at night."),
    ("Write a short poem about autumn.", "Sure! Leaves fall slowly, the wind turns cold, and the days grow short."),
    ("Can cats see in the dark?", "Yes, cats can see in dim light much better than people can."),
    (
        "How do clouds form?",
        "Clouds form when warm air rises and cools, and the water vapour in it condenses into tiny droplets. "
        "Different heights give different cloud shapes.",
    ),
    ("How many legs does a spider have?", "Spiders have eight legs and most have eight eyes as well."),
    ("Name some uses of salt.", "{uses: seasoning, preserving}"),
    ("Give three health tips.", "* Drink water\n* Sleep well\n* Walk every day"),
    ("Give three health tips.", "Three tips:\n1. Drink water\n2. Sleep eight hours\n3. Walk after dinner"),
    ("What controls the tides?", "THE MOON controls the tides of the ocean."),
    (
        "Why is the sky blue?",
        "Why is the sky blue? Sunlight scatters off air molecules, and blue light scatters the most.",
    ),
    (
        "Tell me about volcanoes.",
        "Volcanoes erupt when pressure from molten rock builds up under the crust. In 2010 an Icelandic "
        "volcano stopped flights across Europe for six days.",
    ),
    ("What is the capital of France?", "Paris."),
    (
        "Why does bread rise?",
        "Bread rises because yeast eats sugar and releases carbon dioxide, which gets trapped in the dough.",
    ),
    ("Should I hike tomorrow?", "Maybe. It depends on the weather, the season and how far you plan to walk."),
    ("How does rain form?", "do you want to know how rain forms? water evaporates, cools and falls again."),
    ("Give three health tips.", '{"tips": ["drink water", "sleep well", "walk daily"], "count": 3}'),
    ("Describe a good breakfast.", "A GOOD BREAKFAST HAS EGGS, FRUIT AND 2 SLICES OF TOAST."),
    ("Describe a good breakfast.", "oatmeal with berries and a cup of tea makes a calm, filling breakfast"),
    ("Describe a good breakfast.", "- Oatmeal with berries\n- Two eggs\nand a glass of juice to finish."),
    ("List the planets nearest the sun.", "Mercury, Venus, Earth and Mars are the four planets nearest the sun."),
    ("List the planets nearest the sun.", "1) Mercury\n2) Venus\n3) Earth\n4) Mars"),
    (
        "Suggest a weekend plan.",
        "A morning at the market, a long lunch and a film in the evening. Which part sounds best to you?",
    ),
    ("Suggest a weekend plan.", "HOW ABOUT A PICNIC BY THE LAKE ON SATURDAY?"),
    ("Ask me something about my garden.", "what do you grow in the shady corner near the fence?"),
    ("Give the boiling point of water.", '[{"unit": "celsius", "value": 100}, {"unit": "fahrenheit", "value": 212}]'),
)
"""New (instruction, response) pairs, written for this evaluation."""

SEMANTIC_CHECKS: tuple[tuple[str, str, str, str, bool], ...] = (
    # (family, requirement, instruction, response, label): written by hand; the label is the writer's.
    ("polite", "Keep it courteous.", "Tell a customer their order is delayed.",
     "Thank you for your patience: your order will arrive on Thursday instead of Tuesday. We appreciate your "
     "understanding.", True),
    ("polite", "Keep it courteous.", "Tell a customer their order is delayed.",
     "Your order's late. Thursday. Nothing I can do about it, so don't call again.", False),
    ("polite", "Make sure the reply has good manners.", "Decline an invitation to a party.",
     "Thank you so much for inviting me! Sadly I'm away that weekend, but I hope you all have a wonderful time.", True),
    ("polite", "Make sure the reply has good manners.", "Decline an invitation to a party.",
     "Not coming. Parties like yours are boring anyway.", False),
    ("polite", "The message should come across as friendly and respectful.", "Remind a neighbour about the bins.",
     "Hi Sam, just a friendly reminder that the bins go out tonight. Thanks a lot!", True),
    ("polite", "The message should come across as friendly and respectful.", "Remind a neighbour about the bins.",
     "Sam, you forgot the bins AGAIN. How hard can it be?", False),
    ("polite", "Keep it courteous.", "Reply to a colleague who asked for help.",
     "Of course, I'd be happy to look at it after lunch. Thanks for thinking of me.", True),
    ("polite", "Keep it courteous.", "Reply to a colleague who asked for help.",
     "Can't you do anything on your own? Figure it out.", False),
    ("polite", "Make sure the reply has good manners.", "Answer a tourist asking for the museum.",
     "Certainly! The museum is two streets down on your left. Enjoy your visit.", True),
    ("polite", "Make sure the reply has good manners.", "Answer a tourist asking for the museum.",
     "It's on the map. Learn to read one.", False),
    ("polite", "The message should come across as friendly and respectful.", "Ask a student to be quiet.",
     "Could you lower your voice a little, please? Others are trying to concentrate. Thank you.", True),
    ("polite", "The message should come across as friendly and respectful.", "Ask a student to be quiet.",
     "Quiet! Nobody wants to hear you.", False),
    ("polite", "The tone is disrespectful.", "Answer a customer's question about opening hours.",
     "We open at 8 and close at 6. Hope that helps, and have a nice day!", False),
    ("polite", "The tone is disrespectful.", "Answer a customer's question about opening hours.",
     "We open at 8. It's written on the door, obviously. Stop calling.", True),
    ("polite", "Keep it courteous.", "Respond to a complaint about noise.",
     "I'm sorry for the disturbance last night. We'll make sure it doesn't happen again.", True),
    ("polite", "Keep it courteous.", "Respond to a complaint about noise.",
     "Complain all you like. We'll play music whenever we want.", False),
    ("polite", "Make sure the reply has good manners.", "Tell a guest that dinner is ready.",
     "Dinner is served whenever you're ready; please come and join us.", True),
    ("polite", "Make sure the reply has good manners.", "Tell a guest that dinner is ready.",
     "Food's on the table. Eat it or don't.", False),
    ("polite", "The tone is disrespectful.", "Reply to a friend's message.",
     "Great to hear from you! Let's catch up soon.", False),
    ("polite", "The tone is disrespectful.", "Reply to a friend's message.",
     "Why are you texting me? I'm busy, leave me alone.", True),
    ("greeting", "Say hi before anything else.", "What time is the meeting?",
     "Hi Anna! The meeting starts at 10:30 in room B.", True),
    ("greeting", "Say hi before anything else.", "What time is the meeting?",
     "The meeting starts at 10:30 in room B.", False),
    ("greeting", "Kick off with a friendly hello.", "Write a reply to a new club member.",
     "Hello and a warm welcome to the club! Our next session is on Thursday.", True),
    ("greeting", "Kick off with a friendly hello.", "Write a reply to a new club member.",
     "Our next session is on Thursday; bring running shoes.", False),
    ("greeting", "The first thing in the reply should be a greeting.", "Answer a parent's email about homework.",
     "Good afternoon, Mrs Patel. The homework is due next Monday.", True),
    ("greeting", "The first thing in the reply should be a greeting.", "Answer a parent's email about homework.",
     "Thanks for your email. The homework is due next Monday.", False),
    ("greeting", "Say hi before anything else.", "Write a text to your brother about dinner.",
     "Hey Tom! Dinner's at mum's at seven.", True),
    ("greeting", "Say hi before anything else.", "Write a text to your brother about dinner.",
     "Dinner's at mum's at seven. Don't be late!", False),
    ("greeting", "Kick off with a friendly hello.", "Reply to a customer asking about stock.",
     "Hi there, yes, the blue jacket is back in stock in all sizes.", True),
    ("greeting", "Kick off with a friendly hello.", "Reply to a customer asking about stock.",
     "Yes, the blue jacket is back in stock in all sizes.", False),
    ("greeting", "The first thing in the reply should be a greeting.", "Start a presentation.",
     "Good morning, everyone, and thank you for coming.", True),
    ("greeting", "The first thing in the reply should be a greeting.", "Start a presentation.",
     "Today I will talk about our sales figures.", False),
    ("greeting", "Skip any greeting and get straight to the point.", "Reply to a quick question about parking.",
     "Parking is free after 6 pm.", True),
    ("greeting", "Skip any greeting and get straight to the point.", "Reply to a quick question about parking.",
     "Hello! Parking is free after 6 pm.", False),
    ("greeting", "Say hi before anything else.", "Message a teammate about the deadline.",
     "Morning, Leo! Quick note: the deadline moved to Friday.", True),
    ("greeting", "Say hi before anything else.", "Message a teammate about the deadline.",
     "Quick note: the deadline moved to Friday.", False),
    ("greeting", "Kick off with a friendly hello.", "Write back to a pen pal.",
     "Hello from sunny Spain! Thanks for your letter.", True),
    ("greeting", "Kick off with a friendly hello.", "Write back to a pen pal.",
     "Thanks for your letter, it made my week.", False),
    ("greeting", "Skip any greeting and get straight to the point.", "Tell me the wifi password.",
     "Hi! The password is on the fridge.", False),
    ("greeting", "Skip any greeting and get straight to the point.", "Tell me the wifi password.",
     "The password is on the fridge.", True),
    ("apology", "Express regret for the mistake.", "A customer received the wrong colour.",
     "We're very sorry you received the wrong colour. The right one ships today.", True),
    ("apology", "Express regret for the mistake.", "A customer received the wrong colour.",
     "The right colour ships today and arrives by Friday.", False),
    ("apology", "Own up to the error and say you're sorry.", "You forgot a friend's birthday.",
     "I completely forgot your birthday, and I'm so sorry. Let me take you out to lunch.", True),
    ("apology", "Own up to the error and say you're sorry.", "You forgot a friend's birthday.",
     "Happy belated birthday! Let me take you out to lunch.", False),
    ("apology", "The reply should contain an apology to the customer.", "A guest's room was noisy.",
     "Please forgive the noise last night; we have moved you to a quieter room.", True),
    ("apology", "The reply should contain an apology to the customer.", "A guest's room was noisy.",
     "We have moved you to a quieter room on the fourth floor.", False),
    ("apology", "Express regret for the mistake.", "The invoice had the wrong amount.",
     "Apologies for the error on your invoice. A corrected copy is attached.", True),
    ("apology", "Express regret for the mistake.", "The invoice had the wrong amount.",
     "A corrected copy of the invoice is attached.", False),
    ("apology", "Own up to the error and say you're sorry.", "You arrived late to a meeting.",
     "Sorry I'm late, everyone; the bus broke down.", True),
    ("apology", "Own up to the error and say you're sorry.", "You arrived late to a meeting.",
     "The bus broke down, so I arrived at ten past.", False),
    ("apology", "The reply should contain an apology to the customer.", "The website was down for an hour.",
     "We regret this morning's outage and thank you for bearing with us.", True),
    ("apology", "The reply should contain an apology to the customer.", "The website was down for an hour.",
     "The website is working again after this morning's outage.", False),
    ("apology", "Don't apologise in the reply.", "Tell a client the report is ready.",
     "Your report is ready and attached.", True),
    ("apology", "Don't apologise in the reply.", "Tell a client the report is ready.",
     "Sorry for the wait; your report is ready and attached.", False),
    ("apology", "Express regret for the mistake.", "A parcel was sent to the wrong address.",
     "My apologies: we sent your parcel to an old address. A new one is on the way.", True),
    ("apology", "Express regret for the mistake.", "A parcel was sent to the wrong address.",
     "Thanks for letting us know. A new parcel is on the way.", False),
    ("apology", "Own up to the error and say you're sorry.", "You broke a friend's mug.",
     "I broke your favourite mug and I'm really sorry. I'll buy you a new one.", True),
    ("apology", "Own up to the error and say you're sorry.", "You broke a friend's mug.",
     "Your favourite mug broke, so I'll buy you a new one.", False),
    ("apology", "Don't apologise in the reply.", "Reply to a customer about a delay.",
     "We apologise for the delay; the item ships on Monday.", False),
    ("apology", "Don't apologise in the reply.", "Reply to a customer about a delay.",
     "The item ships on Monday.", True),
    ("tone", "Sound enthusiastic and happy.", "How was your holiday?",
     "It was amazing! The beaches were gorgeous and we can't wait to go back.", True),
    ("tone", "Sound enthusiastic and happy.", "How was your holiday?",
     "It rained every day and the hotel was dirty. Never again.", False),
    ("tone", "Let the reply sound disappointed.", "How was the new restaurant?",
     "Sadly it was a letdown: cold food, slow service and high prices.", True),
    ("tone", "Let the reply sound disappointed.", "How was the new restaurant?",
     "Delicious food and friendly staff. We loved it!", False),
    ("tone", "Write it like an official business letter.", "Tell a supplier the payment was sent.",
     "Dear Mr Jones, I am writing to confirm that payment was sent on 3 May. Yours sincerely, Maria Lopez", True),
    ("tone", "Write it like an official business letter.", "Tell a supplier the payment was sent.",
     "hey, sent the cash yesterday, all good?", False),
    ("tone", "Keep it laid-back, like talking to a friend.", "Invite someone to a barbecue.",
     "Hey, we're throwing some burgers on the grill Saturday, come by if you're free!", True),
    ("tone", "Keep it laid-back, like talking to a friend.", "Invite someone to a barbecue.",
     "You are cordially invited to attend a barbecue on Saturday at 2 p.m. Kindly confirm your attendance.", False),
    ("tone", "Sound enthusiastic and happy.", "Describe your new job.",
     "I love it! My team is brilliant and every day brings something exciting.", True),
    ("tone", "Sound enthusiastic and happy.", "Describe your new job.",
     "It's dull. The hours are long and my manager ignores me.", False),
    ("tone", "Let the reply sound disappointed.", "How did the match go?",
     "We lost again, three to nil. Really frustrating after all that training.", True),
    ("tone", "Let the reply sound disappointed.", "How did the match go?",
     "We won three to nil! What a brilliant afternoon.", False),
    ("tone", "Write it like an official business letter.", "Ask the council about a permit.",
     "To whom it may concern, I would be grateful if you could inform me of the status of my parking permit "
     "application. Respectfully, J. Smith", True),
    ("tone", "Write it like an official business letter.", "Ask the council about a permit.",
     "yo, where's my parking permit? been waiting forever lol", False),
    ("tone", "Keep it laid-back, like talking to a friend.", "Tell a friend you'll be late.",
     "Running a bit behind, grab a coffee and I'll be there in ten!", True),
    ("tone", "Keep it laid-back, like talking to a friend.", "Tell a friend you'll be late.",
     "Please be informed that I shall arrive approximately ten minutes after the agreed time.", False),
    ("tone", "Sound enthusiastic and happy.", "What do you think of the new park?",
     "It's fantastic, with so much green space and a great playground for the kids!", True),
    ("tone", "Sound enthusiastic and happy.", "What do you think of the new park?",
     "The new park is smaller than promised and already full of litter.", False),
    ("tone", "Let the reply sound disappointed.", "How was the gig?",
     "Honestly, it was underwhelming; the band played for barely forty minutes.", True),
    ("tone", "Let the reply sound disappointed.", "How was the gig?",
     "The band was incredible and played for over two hours!", False),
    ("person", "Tell it from your own perspective.", "Describe a rainy day.",
     "I stayed in, made soup and listened to the rain on my window.", True),
    ("person", "Tell it from your own perspective.", "Describe a rainy day.",
     "Rain fell all day, and the streets emptied by noon.", False),
    ("person", "Use I and me throughout.", "Describe learning to swim.",
     "I was terrified at first, but my coach helped me float within a week.", True),
    ("person", "Use I and me throughout.", "Describe learning to swim.",
     "Learning to swim takes most children a few weeks of lessons.", False),
    ("person", "Talk to the reader directly.", "Give tips for a job interview.",
     "Arrive early, bring a copy of your CV and ask them a question at the end.", True),
    ("person", "Talk to the reader directly.", "Give tips for a job interview.",
     "Candidates who arrive early and bring a CV tend to make a good impression.", False),
    ("person", "Describe it as an outside observer, without I or you.", "Describe a busy market.",
     "Traders shout their prices while shoppers squeeze between the stalls.", True),
    ("person", "Describe it as an outside observer, without I or you.", "Describe a busy market.",
     "I love wandering between the stalls while traders shout their prices.", False),
    ("person", "Tell it from your own perspective.", "Describe your first day at school.",
     "I remember holding my mum's hand and refusing to let go at the gate.", True),
    ("person", "Tell it from your own perspective.", "Describe your first day at school.",
     "Many children cling to their parents at the school gate on the first day.", False),
    ("person", "Talk to the reader directly.", "Explain how to water houseplants.",
     "Check the soil with your finger and water only when it feels dry.", True),
    ("person", "Talk to the reader directly.", "Explain how to water houseplants.",
     "Houseplants should be watered only when the soil feels dry.", False),
    ("person", "Describe it as an outside observer, without I or you.", "Describe a football crowd.",
     "The fans sing, wave scarves and groan at every missed chance.", True),
    ("person", "Describe it as an outside observer, without I or you.", "Describe a football crowd.",
     "You can feel the noise in your chest when the fans start singing.", False),
    ("person", "Use I and me throughout.", "Describe a morning run.",
     "I set off at six, and the cold air woke me up instantly.", True),
    ("person", "Use I and me throughout.", "Describe a morning run.",
     "The runner set off at six into the cold morning air.", False),
    ("person", "Talk to the reader directly.", "Explain how to save for a holiday.",
     "Put a little aside every payday and you'll be surprised how fast it grows.", True),
    ("person", "Talk to the reader directly.", "Explain how to save for a holiday.",
     "People who save a little every payday often reach their holiday budget quickly.", False),
    ("person", "Describe it as an outside observer, without I or you.", "Describe an old lighthouse.",
     "The lighthouse stands on the cliff, its paint peeling in the salty wind.", True),
    ("person", "Describe it as an outside observer, without I or you.", "Describe an old lighthouse.",
     "When you climb the lighthouse stairs, you can see for miles.", False),
    ("recommendation", "Point me to something worth trying.", "I want to start cooking.",
     "Start with a simple omelette; it teaches heat control and takes five minutes.", True),
    ("recommendation", "Point me to something worth trying.", "I want to start cooking.",
     "Cooking is a useful skill that many people learn as adults.", False),
    ("recommendation", "End with a concrete pick for me.", "I'm choosing a city for a weekend away.",
     "Cities with good trains are easiest for short trips. My pick for you: Bruges.", True),
    ("recommendation", "End with a concrete pick for me.", "I'm choosing a city for a weekend away.",
     "Cities with good trains are easiest for short trips.", False),
    ("recommendation", "The reply should propose a specific option.", "Which laptop bag should I get?",
     "Go with a padded backpack that has a separate laptop sleeve.", True),
    ("recommendation", "The reply should propose a specific option.", "Which laptop bag should I get?",
     "Laptop bags come in many shapes, colours and materials.", False),
    ("recommendation", "Name a film I should watch.", "I have a free evening.",
     "Watch 'The Grand Budapest Hotel': funny, short and beautiful to look at.", True),
    ("recommendation", "Name a film I should watch.", "I have a free evening.",
     "Read 'Of Mice and Men'; it's short enough for one evening.", False),
    ("recommendation", "Point me to something worth trying.", "I get bored at the gym.",
     "Try a rowing class: it's a full-body workout and the music keeps you going.", True),
    ("recommendation", "Point me to something worth trying.", "I get bored at the gym.",
     "Gyms are busiest in January, when people make resolutions.", False),
    ("recommendation", "End with a concrete pick for me.", "What should I cook for guests?",
     "Guests usually enjoy something simple. I'd go for a lemon roast chicken.", True),
    ("recommendation", "End with a concrete pick for me.", "What should I cook for guests?",
     "Guests usually enjoy something simple that doesn't keep you in the kitchen.", False),
    ("recommendation", "The reply should propose a specific option.", "How do I learn Spanish?",
     "Sign up for an evening class at the community college; the teacher keeps you on track.", True),
    ("recommendation", "The reply should propose a specific option.", "How do I learn Spanish?",
     "Spanish is spoken by over five hundred million people.", False),
    ("recommendation", "Name a film I should watch.", "Something to watch with the kids?",
     "'My Neighbour Totoro' is a gentle film the whole family will love.", True),
    ("recommendation", "Name a film I should watch.", "Something to watch with the kids?",
     "Films for children often run about ninety minutes.", False),
    ("recommendation", "Point me to something worth trying.", "I can't sleep well.",
     "A warm shower an hour before bed might help you wind down.", True),
    ("recommendation", "Point me to something worth trying.", "I can't sleep well.",
     "About a third of adults report trouble sleeping.", False),
    ("recommendation", "End with a concrete pick for me.", "Which board game for four people?",
     "For four players, Ticket to Ride is easy to learn and fun.", True),
    ("recommendation", "End with a concrete pick for me.", "Which board game for four people?",
     "Board games for four players come in many styles, from strategy to party games.", False),
    ("answers_question", "Actually address what I asked.", "How many minutes are in an hour?",
     "There are sixty minutes in an hour.", True),
    ("answers_question", "Actually address what I asked.", "How many minutes are in an hour?",
     "Clocks were once powered by weights and springs.", False),
    ("answers_question", "The reply must answer my question directly.", "What colour is a ripe banana?",
     "A ripe banana is yellow.", True),
    ("answers_question", "The reply must answer my question directly.", "What colour is a ripe banana?",
     "Bananas grow in hanging bunches on large plants.", False),
    ("answers_question", "Don't wander off the point.", "Where do penguins live?",
     "Most penguins live in the Southern Hemisphere, many of them in Antarctica.", True),
    ("answers_question", "Don't wander off the point.", "Where do penguins live?",
     "Penguins are birds, and they cannot fly.", False),
    ("answers_question", "Actually address what I asked.", "When does the post office open on Saturday?",
     "On Saturdays the post office opens at 9 a.m.", True),
    ("answers_question", "Actually address what I asked.", "When does the post office open on Saturday?",
     "The post office also sells envelopes and stamps.", False),
    ("answers_question", "The reply must answer my question directly.", "How do I turn off the alarm?",
     "Press and hold the red button on the side for three seconds.", True),
    ("answers_question", "The reply must answer my question directly.", "How do I turn off the alarm?",
     "Alarms are loud so that they can wake heavy sleepers.", False),
    ("answers_question", "Don't wander off the point.", "Who invented the telephone?",
     "Alexander Graham Bell is credited with inventing the telephone in 1876.", True),
    ("answers_question", "Don't wander off the point.", "Who invented the telephone?",
     "Mobile phones today can take photos and play music.", False),
    ("answers_question", "The response dodges the question.", "What is two plus two?",
     "Two plus two is four.", False),
    ("answers_question", "The response dodges the question.", "What is two plus two?",
     "Numbers have fascinated people for thousands of years.", True),
    ("answers_question", "Actually address what I asked.", "Which is heavier, a kilo of feathers or a kilo of iron?",
     "Neither: both weigh exactly one kilo.", True),
    ("answers_question", "Actually address what I asked.", "Which is heavier, a kilo of feathers or a kilo of iron?",
     "Iron is used to make steel for bridges.", False),
    ("answers_question", "The reply must answer my question directly.",
     "How long does it take to fly from London to New York?", "The flight takes about seven to eight hours.", True),
    ("answers_question", "The reply must answer my question directly.",
     "How long does it take to fly from London to New York?", "New York has five boroughs, Manhattan among them.",
     False),
    ("answers_question", "The response dodges the question.", "What's the tallest mountain in the world?",
     "Mount Everest is the tallest, at about 8,849 metres.", False),
    ("answers_question", "The response dodges the question.", "What's the tallest mountain in the world?",
     "Mountains form when tectonic plates push against each other.", True),
    ("mentions_fact", "Include the detail that the pool closes at eight.", "Write a note for hotel guests.",
     "Welcome! Towels are at reception, and the pool closes at 8 p.m.", True),
    ("mentions_fact", "Include the detail that the pool closes at eight.", "Write a note for hotel guests.",
     "Welcome! Towels are at reception, and the pool opens at 7 a.m.", False),
    ("mentions_fact", "Be sure the reply says the bus is free for children.", "Explain the bus fares.",
     "Adults pay two euros per ride, and children travel for free.", True),
    ("mentions_fact", "Be sure the reply says the bus is free for children.", "Explain the bus fares.",
     "Adults pay two euros per ride, and children pay one euro.", False),
    ("mentions_fact", "Don't forget to note that the class is cancelled.", "Message the yoga group.",
     "Hi all, tonight's yoga class is cancelled because the teacher is ill.", True),
    ("mentions_fact", "Don't forget to note that the class is cancelled.", "Message the yoga group.",
     "Hi all, tonight's yoga class moves to the small hall.", False),
    ("mentions_fact", "Include the detail that the cake contains nuts.", "Describe the birthday cake.",
     "It's a chocolate cake with hazelnuts and a cream filling.", True),
    ("mentions_fact", "Include the detail that the cake contains nuts.", "Describe the birthday cake.",
     "It's a chocolate cake with a cream filling and strawberries.", False),
    ("mentions_fact", "Be sure the reply says the office moves in June.", "Give the staff an update.",
     "Big news: we move to the new office in June.", True),
    ("mentions_fact", "Be sure the reply says the office moves in June.", "Give the staff an update.",
     "Big news: the new office has a rooftop garden.", False),
    ("mentions_fact", "Don't forget to note that parking is not allowed.", "Describe the venue for the guests.",
     "The venue is near the river; please note there is no parking on site.", True),
    ("mentions_fact", "Don't forget to note that parking is not allowed.", "Describe the venue for the guests.",
     "The venue is near the river, with a large car park for guests.", False),
    ("mentions_fact", "Include the detail that the tour lasts two hours.", "Describe the walking tour.",
     "The walking tour covers the old town and takes around two hours.", True),
    ("mentions_fact", "Include the detail that the tour lasts two hours.", "Describe the walking tour.",
     "The walking tour covers the old town and ends at the cathedral.", False),
    ("mentions_fact", "Be sure the reply says the shop accepts cards.", "Tell customers how to pay.",
     "You can pay by card or in cash at the till.", True),
    ("mentions_fact", "Be sure the reply says the shop accepts cards.", "Tell customers how to pay.",
     "Payment is cash only at the till.", False),
    ("mentions_fact", "Don't forget to note that the road is closed on Sunday.", "Warn the runners.",
     "Runners: the coast road is closed to cars all day Sunday for the race.", True),
    ("mentions_fact", "Don't forget to note that the road is closed on Sunday.", "Warn the runners.",
     "Runners: the coast road is busy with cars on Sunday, so take care.", False),
    ("mentions_fact", "Include the detail that the soup is vegan.", "Describe today's special.",
     "Today's special is a tomato soup made without any animal products.", True),
    ("mentions_fact", "Include the detail that the soup is vegan.", "Describe today's special.",
     "Today's special is a creamy tomato soup with fresh cheese.", False),
)  # fmt: skip
"""Checks of the everyday semantic families (:mod:`.semantic`), written by hand for this evaluation: new phrasings
(none is a training phrasing), new situations and responses (none is in the training pools); each label is the
writer's, half met and half not per family."""

ABSENT_WORDS = ("harbour", "violin", "granite", "orbit", "pepper", "lantern", "meadow", "copper")
"""Words that occur in no response above (for word requirements that a response does not mention)."""

PER_FAMILY = 20
"""Checks drawn per family (half meeting the requirement, half not); a repeated check is left out."""

DISJOINT_PATH = Path(__file__).resolve().parents[5] / "datasets" / "requirement_checks" / "disjoint.jsonl"
"""Where the split lives in a source checkout."""


def _content_words(text: str) -> list[str]:
    return [w for w in words(text) if len(w) >= 4 and w.isalpha()]


def _candidates(family: str, want: bool) -> list[tuple[int, object]]:
    """``(response index, parameter)`` pairs whose label for ``family`` is ``want``."""
    fam = FAMILIES[family]
    out: list[tuple[int, object]] = []
    for i, (_, response) in enumerate(RESPONSES):
        if fam.param == "word":
            if family == "starts_with_word":
                options: list[object] = [words(response)[0], "Well", "Honestly", "Today"]
            else:
                options = [*_content_words(response)[:3], *ABSENT_WORDS[i % 4 :: 4]]
        elif fam.param == "number":
            n = len(words(response))
            options = [max(n - 3, 2), n + 4, n]
        else:
            options = [None]
        out.extend((i, v) for v in options if fam.label(response, v) == want)
    return out


def build(seed: int = 16) -> list[dict[str, object]]:
    """The disjoint split: up to ``PER_FAMILY`` distinct checks per checker family, labels about balanced, then
    :data:`SEMANTIC_CHECKS`; deterministic."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    seen: set[tuple[str, str]] = set()
    for family, phrasings in PHRASINGS.items():
        fam = FAMILIES[family]
        for k in range(PER_FAMILY):
            want = k % 2 == 0
            options = _candidates(family, want) or _candidates(family, not want)
            for _ in range(50):  # no check twice
                i, value = rng.choice(options)
                instruction, response = RESPONSES[i]
                requirement = phrasings[k % len(phrasings)].format(w=value, n=value)
                if (requirement, response) not in seen:
                    break
            else:
                continue
            seen.add((requirement, response))
            rows.append(
                {
                    "instruction": instruction,
                    "response": response,
                    "requirement": requirement,
                    "label": fam.label(response, value),
                    "family": family,
                    "param": value,
                    "held_out": fam.held_out,
                }
            )
    for family, requirement, instruction, response, label in SEMANTIC_CHECKS:
        rows.append(
            {
                "instruction": instruction,
                "response": response,
                "requirement": requirement,
                "label": label,
                "family": family,
                "param": None,
                "held_out": False,
            }
        )
    return rows


def write(path: Path = DISJOINT_PATH) -> Path:
    """Write :func:`build`'s split to ``path`` (JSON lines)."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in build()), encoding="utf-8")
    return path
